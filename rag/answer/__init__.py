"""From a question and its evidence to an answer: the reader, the decision, and the composers."""
