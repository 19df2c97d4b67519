from django.contrib import admin

from .models import Context, Deployment, Identity, LineItem, Platform, RosterSync, ScorePost, ToolKey


class DeploymentInline(admin.TabularInline):
    model = Deployment
    extra = 1


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ["name", "issuer", "client_id", "course"]
    inlines = [DeploymentInline]


@admin.register(ToolKey)
class ToolKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "state", "created_at", "retired_at"]
    exclude = ["private_key_pem"]
    readonly_fields = ["kid", "public_jwk", "created_at", "retired_at"]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["platform", "sub", "user", "last_launch_at"]
    search_fields = ["sub", "user__username", "user__email"]


@admin.register(Context)
class ContextAdmin(admin.ModelAdmin):
    list_display = ["platform", "context_id", "title", "course", "last_launch_at"]


admin.site.register(RosterSync)
admin.site.register(LineItem)
admin.site.register(ScorePost)
