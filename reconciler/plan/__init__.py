"""Planning: a pure function from (desired, observed, state) to a Plan, and the plan's one serializer."""
