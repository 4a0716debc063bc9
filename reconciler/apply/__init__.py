"""Apply: carry out exactly a reviewed plan, with an intent journal so reruns never start a task twice."""
