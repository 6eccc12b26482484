"""The ``features`` stage: real-image Inception features, computed once per protocol (:mod:`.inception`)."""
