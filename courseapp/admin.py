"""The Django admin for staff: people, courses, memberships, lectures, textbooks."""

from __future__ import annotations

import secrets

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models

from . import tokens
from .models import (
    Announcement,
    ApiToken,
    Course,
    CourseChange,
    Lecture,
    LectureMaterial,
    Membership,
    Textbook,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "student_number", "first_name", "last_name", "email", "is_staff", "is_active")
    search_fields = ("username", "student_number", "first_name", "last_name", "email")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("METU", {"fields": ("student_number",)}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("METU", {"fields": ("student_number",)}))


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "office_hours", "is_active")


class TextbookInline(admin.TabularInline):
    model = Textbook
    extra = 0


class LectureInline(admin.TabularInline):
    model = Lecture
    extra = 0
    fields = ("week", "starts_at", "ends_at", "room", "topic", "subtopics")


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("number", "title", "term", "code", "lecture_room")
    search_fields = ("number", "title", "code", "term")
    inlines = [TextbookInline, LectureInline]
    readonly_fields = ("calendar_token",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["rotate_calendar_token"]

    @admin.action(description="Give the calendar feed a new secret URL (the old one stops working)")
    def rotate_calendar_token(self, request, queryset) -> None:
        for course in queryset:
            course.calendar_token = secrets.token_urlsafe(24)
            course.save(update_fields=["calendar_token"])
        self.message_user(request, f"New calendar URLs for {queryset.count()} course(s); members find "
                                   "them on the schedule page.", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "student_number", "course", "role", "is_active", "created_at")
    list_filter = ("course", "role", "is_active")
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__student_number")
    list_select_related = ("user", "course")
    raw_id_fields = ("user",)

    @admin.display(ordering="user__student_number")
    def student_number(self, membership: Membership) -> str:
        return membership.user.student_number or ""


@admin.register(Lecture)
class LectureAdmin(admin.ModelAdmin):
    list_display = ("course", "week", "kind", "starts_at", "room", "topic", "cancelled")
    list_filter = ("course", "kind", "cancelled")
    list_select_related = ("course",)
    search_fields = ("topic",)


@admin.register(Textbook)
class TextbookAdmin(admin.ModelAdmin):
    list_display = ("course", "position", "citation")
    list_filter = ("course",)
    list_select_related = ("course",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Site staff see whose tokens exist and when they were used, and can revoke them; never a key.

    Nothing can show a key (only its digest is stored), and tokens are made only by their owner
    (the Tokens page or POST /api/auth/token/), so the admin cannot add or edit one.
    """

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens (they stop working at once)", permissions=["delete"])
    def revoke(self, request, queryset) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            tokens.token_revoke(token=token)
        self.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    """Announcements are posted on the course's Announcements page (sanitised, history kept, e-mailed)."""

    list_display = ("course", "title", "author", "created_at", "emailed_at", "emailed_to")
    list_filter = ("course",)
    list_select_related = ("course", "author")
    readonly_fields = ("body_html", "emailed_at", "emailed_to")

    def has_add_permission(self, request) -> bool:
        return False  # the site's form renders and sanitises the body and sends the e-mail


@admin.register(LectureMaterial)
class LectureMaterialAdmin(admin.ModelAdmin):
    list_display = ("lecture", "title", "url", "original_name", "created_at")
    list_select_related = ("lecture", "lecture__course")
    raw_id_fields = ("lecture", "created_by")


@admin.register(CourseChange)
class CourseChangeAdmin(admin.ModelAdmin):
    """The course history is append-only: readable here, never added, changed or deleted."""

    list_display = ("changed_at", "course", "changed_by", "subject", "action", "target")
    list_filter = ("course", "subject")
    list_select_related = ("course", "changed_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
