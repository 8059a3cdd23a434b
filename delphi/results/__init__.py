"""The results of a study, read from the database: one place for every feature.

- ``tables``: the ratings as the statistics engine reads them (``study_table``, one query;
  ``study_records`` derived from it), the engine's settings for a study, and computing
  and storing a round's statistics (``store_results``);
- ``feedback``: the stored numbers, own ratings and comments the voting page's feedback
  is drawn from;
- ``items``: a round's stored results joined to its statements, comments and decisions.

Items are named by ``delphi.models.item_label`` (``a-02``, ``a-02.v2``): the stored results,
the exports and the pages all use it. Features (``auth``, ``builder``, ``decisions``,
``exports``, ``panel``, ``rounds``, ``studies``) import this package, ``console``, ``models``
and the other top-level modules, never each other.
"""
