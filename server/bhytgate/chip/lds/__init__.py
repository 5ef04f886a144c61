"""Parsers for the elementary files of an ICAO 9303 chip (LDS 1.7/1.8) and the CCCD's DG13."""
