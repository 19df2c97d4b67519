"""Factories for gradebook tests (factory_boy)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory

from courseapp.models import Membership, Role, User
from grading.models import Category, GradeItem

IST = ZoneInfo("Europe/Istanbul")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    weight = Decimal("10")


class GradeItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GradeItem

    course = factory.SelfAttribute("category.course")
    name = factory.Sequence(lambda n: f"Item {n}")
    points_possible = Decimal("10")
    due_at = dt.datetime(2024, 11, 6, 23, 59, tzinfo=IST)
    released = True


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"s{n:05d}")
    student_number = factory.Sequence(lambda n: f"9{n:06d}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")


def enroll(course, count: int) -> list[User]:
    students = StudentFactory.create_batch(count)
    Membership.objects.bulk_create([Membership(course=course, user=s, role=Role.STUDENT) for s in students])
    return students


def category(course, name: str) -> Category:
    return Category.objects.get(course=course, name=name)
