"""The physiology baseline: regional temperatures of the face (`regions`), read from a run's
files as it reads them (`table`), and the clinical thermal rule on them (`rule`)."""
