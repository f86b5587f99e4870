"""Data exchange: files of stored power for researchers and partners.

``vde.export.spec`` says what to export (installations, window, resolution, format),
``vde.export.tables`` reads it from the store as Arrow tables, ``vde.export.formats``
writes CSV or Parquet, ``vde.export.run`` plans the files, resumes from the marks kept
in the store and writes ``manifest.json``, and ``vde.export.sftp`` pushes a folder to a
partner's SFTP server (atomic, resumable uploads). No click or web imports here.
"""
