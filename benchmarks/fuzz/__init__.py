"""A fuzzing campaign over every parser that takes outside bytes (`python -m benchmarks.fuzz`).

Not a CI test: it runs for tens of minutes. `seeds.py` builds the starting corpus from real data
(../shared/emrtd, card-lab dumps, ../shared/faces, the entitlement demo, serialized requests),
`targets.py` says what each target calls and which exceptions are its documented typed errors,
`mutators.py` holds the structure-aware mutators (DER trees with lengths fixed up, protobuf wire
format, PNG/JPEG/JP2 chunks with CRCs fixed up, delimited text), `worker.py` runs one target under
atheris (libFuzzer, coverage-guided) or, without atheris, a coverage-less mutation loop, and
`report.py` writes the Markdown report. Crashers are kept as regression tests under
tests/fuzz_regressions/.
"""
