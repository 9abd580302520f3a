import factory

from accounts.models import User

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"trader{n}@example.com")
    display_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):
        if create:
            self.save()


class ConnectionFactory(factory.django.DjangoModelFactory):
    """A connection with well-formed (but unknown to any exchange) sandbox HMAC keys."""

    class Meta:
        model = "exchanges.ExchangeConnection"

    owner = factory.SubFactory(UserFactory)
    label = factory.Sequence(lambda n: f"Connection {n}")
    environment = "sandbox"
    key_type = "HMAC"
    api_key = factory.Sequence(lambda n: f"{n:04d}".rjust(64, "K"))
    secret = factory.Sequence(lambda n: f"{n:04d}".rjust(64, "S"))

    @classmethod
    def _create(cls, model_class, *args, api_key, secret, **kwargs):
        from exchanges import crypto

        return model_class.objects.create(
            *args,
            api_key_encrypted=crypto.encrypt(api_key),
            secret_encrypted=crypto.encrypt(secret),
            key_last4=api_key[-4:],
            **kwargs,
        )
