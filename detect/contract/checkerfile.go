package contract

// Save writes the checker's model to path atomically (see Model.Save),
// with how far its learning period has come, so that LoadChecker goes on
// where it stopped.
func (c *Checker) Save(path string) error {
	c.m.learnStart, c.m.learnedN = c.start, c.learned
	return c.m.Save(path)
}

// LoadChecker returns a Checker that goes on from the model saved at path
// (Checker.Save, or Model.Save): a frozen model checks from the first
// event; one still learning goes on learning, its learning period counted
// from where the saved one had come. opts.Model is ignored. An error
// wraps fs.ErrNotExist when there is no such file, and ErrFormat when it
// is not a saved contract.
func LoadChecker(path string, opts CheckerOptions) (*Checker, error) {
	m, err := Load(path, opts.Contract)
	if err != nil {
		return nil, err
	}
	opts.Model = m
	c := NewChecker(opts)
	c.start, c.learned = m.learnStart, m.learnedN
	return c, nil
}
