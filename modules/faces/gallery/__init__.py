"""The reference gallery (1:N) under consent and retention.

``crypto`` (AES-GCM sealing of descriptors, subject keys wrapped by a master key; Django-free),
``keys`` (the master key from settings: FACES_MASTER_KEY, KMS, or a development key),
``index`` (the decrypted matrix searched in memory; Django-free), ``cache`` (one index per
process, rebuilt when the gallery version changes), ``services`` (the workflows, from
``subjects``, ``enroll``, ``search`` and ``retention``), ``events`` (their audit trail).
"""
