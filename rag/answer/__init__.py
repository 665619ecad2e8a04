"""Answer: the question parsed once, candidate sentences scored and chosen, the short span, follow-ups, the trained answer model."""
