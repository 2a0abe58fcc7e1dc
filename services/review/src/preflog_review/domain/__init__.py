"""The review service's pure domain: no I/O, only values in and values out.

Scoring lives in small modules: ``label_agreement`` and ``consensus`` (how far labels agree),
``question_alpha`` and ``krippendorff`` (reliability of question answers), ``annotator_stats``,
and the model leaderboard (``pair_outcomes`` -> ``outcome_counts`` -> ``bradley_terry`` ->
``leaderboard``).
"""
