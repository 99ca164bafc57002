// A job module that cannot load: the pool must fail its jobs, not restart threads forever.
throw new Error('this module does not load');
