import datetime as dt

from django.db import migrations, models


def fill(apps, schema_editor):
    Attempt = apps.get_model("quizzes", "Attempt")
    for attempt in Attempt.objects.select_related("quiz"):
        attempt.accept_until = attempt.deadline + dt.timedelta(seconds=attempt.quiz.grace_seconds)
        attempt.save(update_fields=["accept_until"])


class Migration(migrations.Migration):
    dependencies = [("quizzes", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="attempt", name="accept_until",
            field=models.DateTimeField(null=True, help_text="deadline + the quiz's grace period: saves after it are refused"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="attempt", name="accept_until",
            field=models.DateTimeField(help_text="deadline + the quiz's grace period: saves after it are refused"),
        ),
        migrations.RemoveIndex(model_name="attempt", name="quizzes_att_state_b4133e_idx"),
        migrations.AddIndex(model_name="attempt", index=models.Index(fields=["state", "accept_until"], name="quizzes_att_state_accept_idx")),
    ]
