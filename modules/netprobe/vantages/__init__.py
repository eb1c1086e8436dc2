"""Probing from many places: the signed hub-to-vantage protocol, the vantage endpoint, the hub's
client and its fan-out over locations.

signing.py   the signature both ends share (HMAC-SHA256 over method, path, timestamp, body)
codec.py     an engine result as JSON and back, exactly
endpoint.py  the vantage's views; urls.py is the ROOT_URLCONF of NETPROBE_ROLE=vantage
client.py    the hub's signed request through the egress door; every failure one line
locations.py location names read one way everywhere: parse_list, normalize, resolve, is_multi
fanout.py    run_at() / run_pairs(): every call at once on one pool, a budget per call
measure.py   a measurement stored: one row per location that answered, sharing an id
services.py  vantage_create / vantage_update / vantage_check (re-exported by the module's)
api.py, serializers.py  /api/netprobe/vantages/ and the measurement's API shape
"""
