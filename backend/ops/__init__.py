"""Operations on top of server and db: the supervisor (``serve``) and the demo load."""
