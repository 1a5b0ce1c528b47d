"""The leaky reference build: a model of firmware telemetry, to prove the suite catches it.

A compliance suite is only worth its failures. `local-chromium-leaky` is the
embedded browser plus a separate agent process that behaves like the browser in
the reported case: it watches every page through the browser's DevTools port
(incognito included, no click needed) and posts visited URLs, search terms, a
device identifier and app-usage events, encoded, to phone-maker analytics hosts.
"""
