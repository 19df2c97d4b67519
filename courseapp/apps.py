from django.apps import AppConfig


class CourseappConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "courseapp"
    verbose_name = "Course"
