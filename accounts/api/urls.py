from django.urls import path

from accounts.api import views

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="api-register"),
    path("login", views.LoginView.as_view(), name="api-login"),
    path("refresh", views.RefreshView.as_view(), name="api-refresh"),
    path("me", views.MeView.as_view(), name="api-me"),
    path("reauth", views.ReauthView.as_view(), name="api-reauth"),
    path("tokens", views.ApiTokenListView.as_view(), name="api-tokens"),
    path("tokens/<int:pk>", views.ApiTokenDetailView.as_view(), name="api-token-detail"),
]
