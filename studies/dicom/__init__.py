"""DICOM handling for the import: reading and validating one file (:mod:`.validate`), the
PS3.15 confidentiality profile table (:mod:`.ps315`) and de-identification (:mod:`.deid`).

Nothing in this package imports Django: settings such as the pseudonym key and the size limits
are passed in as arguments.
"""
