"""The generated contract, re-exported from `bhytgate_client.v1` (one generated copy, made by
`python -m bhytgate.api.codegen`); the server's code imports it from here."""
