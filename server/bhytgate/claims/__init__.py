"""Claims reconciliation: which claimed visits (QĐ 130 XML1 dossiers) were never verified?

`envelope` streams a GIAMDINHHS file (defusedxml over expat, fed chunk by chunk: no tree, no DTD,
no entities) and yields each dossier's XML1 payload; `xml1` reads one payload; `match` classifies a
dossier against the verified check-ins of its person; `service` runs the three over a stream with
one database query per batch.
"""
