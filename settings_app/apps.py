from django.apps import AppConfig


class SettingsAppConfig(AppConfig):
    name = "settings_app"
    label = "settings_app"
    verbose_name = "Integration settings"
