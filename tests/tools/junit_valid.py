"""Validates a JUnit XML report against an XML Schema (lxml): exit 0 when valid, else 1 with
the schema's complaints on stderr. Usage: junit_valid.py SCHEMA.xsd REPORT.xml"""
import sys

from lxml import etree

schema = etree.XMLSchema(etree.parse(sys.argv[1]))
report = etree.parse(sys.argv[2])
if not schema.validate(report):
    for e in schema.error_log:
        print(f"line {e.line}: {e.message}", file=sys.stderr)
    sys.exit(1)
print(f"valid: {len(report.findall('.//testcase'))} test cases")
