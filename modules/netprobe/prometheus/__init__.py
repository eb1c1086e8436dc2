"""Prometheus for NetProbe: a blackbox_exporter-compatible `/probe` and the monitors' `/metrics`.

config.py reads blackbox-style modules into NetProbe probe specs (Django-free: settings.py
checks an operator's modules file at start-up); exposition.py names the results the way
blackbox_exporter does; scrape.py runs a probe or reads the monitors; views.py is the HTTP edge.
"""
