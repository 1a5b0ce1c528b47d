"""Where a device's traffic goes and how: allowlists, known trackers, server countries,
plaintext, and traffic that escaped inspection.

Pure judgement in rules.py over flows reduced to contacts (transport.py); the data it
needs (tracker lists, IP->country) is read offline from files installed by the
registries (trackers.py, geo.py); the policy (policy.py) says what is allowed.
"""
