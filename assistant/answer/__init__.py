"""Answer: guards, retrieval, relevance, the chain and the composers."""
