"""Lightning callbacks: the stages' checkpoints (`training`), a run's side outputs after the test
(`outputs`: predictions, figures, data summary; `explanations`: maps of where the model looks)."""
