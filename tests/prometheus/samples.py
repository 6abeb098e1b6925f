"""Reads the Prometheus text format on stdin with the Prometheus project's own Python parser
(prometheus_client.parser, which raises on a malformed line) and prints every sample as JSON:
its family's name and type, the sample's name, labels and value."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        value = sample.value
        samples.append({
            "family": family.name,
            "type": family.type,
            "name": sample.name,
            "labels": sample.labels,
            # JSON has no infinity; none is expected, but say so rather than fail here.
            "value": value if math.isfinite(value) else str(value),
        })
json.dump(samples, sys.stdout)
