"""The sub-services hanging off :class:`clinic_crm.ClinicCRM`: each method runs one use case in a unit of work."""
