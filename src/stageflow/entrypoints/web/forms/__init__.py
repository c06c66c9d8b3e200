"""Forms the automation screens share: action settings generated from their JSON schema
(``schema_form``), the condition builder (``conditions``) and what their pickers offer
(``choices``)."""
