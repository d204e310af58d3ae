"""How results read: numbers, intervals and p-values as text, and values as JSON, the same in
panels, the CLI and reports."""
