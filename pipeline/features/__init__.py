"""The ``features`` stage: real-image Inception features, computed once per protocol (:mod:`.inception`); where
Inception's passes run, for this stage and ``evaluate`` (:mod:`.passes`)."""
