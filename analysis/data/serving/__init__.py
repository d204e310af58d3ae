"""Readers for what serving systems write (capture logs, payload logs, inference tables).

Each vendor module turns its raw records into the same *request* relation (one row per logged
request: id, time, model version, status, the request's input rows and its outputs as JSON);
:mod:`.unpack` turns requests into one row per prediction, and :mod:`.detect` recognises the
vendor from the records' content, never from file names.
"""
