"""Declarations of potential conflicts of interest (ACCORD O2).

A study may ask each panellist to declare on their first visit, after consent
(``declarations.conflicts`` in the survey file); each member of the study's team records
their own on the Team page.  The report counts the panellists' declarations and lists the
organisers' by name; a panellist's text is shown to nobody but them (and their own copy of
their data), and erasure removes it.
"""
