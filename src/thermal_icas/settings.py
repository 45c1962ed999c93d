"""The error for a setting that cannot work, raised where the setting is used."""


class ConfigError(ValueError):
    """A config value is invalid; the message names the setting and the accepted values."""
