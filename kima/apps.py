from django.apps import AppConfig


class KimaConfig(AppConfig):
    name = "kima"
    verbose_name = "Kima"
