"""People: the organisation tree, volunteers and their ID numbers, users, scopes and sign-in."""
