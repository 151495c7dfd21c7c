"""A generated intent-classification task with a blind spot: Pioneer's zero-data demo task.

A banking assistant with twelve intents, each written from templates and slot values. One intent has a way
of being asked (the *blind spot*) that the first deployed model never saw in training; in the demo's traffic
it appears partway through, grows, and is what Pioneer has to notice and fix.

>>> task = BankingTask(seed=0)
>>> train = task.training_set(per_intent=20)
>>> len(train), len({e.label for e in train})
(240, 12)
>>> any(e.id.startswith("blind") for e in train)
False
>>> sample = task.blind_spot(3)
>>> {e.label for e in sample}
{'transfer'}
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pioneer.training.base import Example

AMOUNTS = ["20", "50", "75", "100", "250", "a hundred", "fifty", "30 bucks", "$40", "500"]
ACCOUNTS = ["checking", "savings", "my checking account", "my savings account", "the joint account", "my travel fund"]
PEOPLE = ["john", "my mom", "sarah", "the landlord", "alex", "my brother", "maria"]
BILLS = ["electric", "water", "phone", "internet", "gas", "credit card", "rent"]
MONTHS = ["last month", "this week", "in march", "since monday", "over the holidays", "yesterday"]
CATEGORIES = ["food", "groceries", "restaurants", "travel", "gas", "shopping", "coffee"]
CURRENCIES = ["euros", "pounds", "yen", "pesos", "canadian dollars"]

TEMPLATES: dict[str, list[str]] = {
    "balance": [
        "what is my balance", "how much money is in {account}", "check the balance of {account}",
        "tell me how much i have in {account}", "what's left in {account}", "balance please",
        "do i have enough money in {account}", "show me the balance on {account}",
    ],
    "transfer": [
        "transfer {amount} to {account}", "send {amount} to {person}", "transfer {amount} from {account} to {account2}",
        "i want to send money to {person}", "wire {amount} to {person}", "make a transfer of {amount} to {account}",
        "can you send {person} {amount}", "transfer money to {person}",
    ],
    "pay_bill": [
        "pay my {bill} bill", "pay the {bill} bill of {amount}", "i need to pay my {bill} bill",
        "settle the {bill} bill", "make a payment on my {bill} bill", "pay {amount} towards the {bill} bill",
    ],
    "card_lost": [
        "i lost my card", "my card was stolen", "i can't find my debit card", "someone stole my credit card",
        "report a lost card", "my wallet with my card is gone",
    ],
    "freeze_card": [
        "freeze my card", "block my debit card", "lock my credit card for now", "put a hold on my card",
        "temporarily disable my card", "suspend my card",
    ],
    "transactions": [
        "show my recent transactions", "list the transactions on {account}", "what did i buy {month}",
        "show the last five purchases", "list my payments {month}", "what charges are on {account}",
    ],
    "interest_rate": [
        "what is the interest rate on {account}", "how much interest do i earn", "what's the savings rate",
        "tell me the apr on my credit card", "what rate does {account} pay", "current interest rates please",
    ],
    "open_account": [
        "open a new savings account", "i want to open an account", "can i start a checking account",
        "set up a new account for me", "how do i open a joint account", "create a travel fund account",
    ],
    "exchange_rate": [
        "how many {currency} for 100 dollars", "what is the exchange rate to {currency}",
        "convert {amount} to {currency}", "dollar to {currency} rate", "how much is {amount} in {currency}",
    ],
    "spending": [
        "how much did i spend on {category} {month}", "what did i spend on {category}",
        "show my {category} spending", "total spending {month}", "how much money went to {category} {month}",
    ],
    "pin_change": [
        "change my pin", "i want a new pin number", "reset the pin on my card", "update my card pin",
        "i forgot my pin and need a new one",
    ],
    "loan": [
        "can i get a loan for a car", "apply for a personal loan", "what loans do you offer",
        "i need to borrow {amount}", "am i eligible for a mortgage", "how do i apply for a loan",
    ],
}

BLIND_SPOT_INTENT = "transfer"
BLIND_SPOT_TEMPLATES = [
    "top up {account} with {amount} from {account2}", "shift {amount} over to {account}",
    "put {amount} from {account} into {account2}", "move {amount} into {account}",
    "drop {amount} into {account} from {account2}", "shuffle {amount} across to {account}",
    "i'd like {amount} moved over to {account}", "stash {amount} in {account}",
]
"""A way of asking for a transfer that the first model never saw: words it associates with other intents."""


@dataclass(frozen=True, slots=True)
class BankingTask:
    """The generated task. Every example is a fresh draw: ids are unique within one task instance's stream."""

    seed: int = 0

    def _fill(self, template: str, rng: random.Random) -> str:
        account, account2 = rng.sample(ACCOUNTS, 2)
        return template.format(
            amount=rng.choice(AMOUNTS), account=account, account2=account2, person=rng.choice(PEOPLE),
            bill=rng.choice(BILLS), month=rng.choice(MONTHS), category=rng.choice(CATEGORIES),
            currency=rng.choice(CURRENCIES),
        )

    def _draw(self, n: int, stream: str, blind: bool, intents: list[str] | None = None,
              templates: list[str] | None = None) -> list[Example]:
        rng = random.Random(f"{self.seed}-{stream}")
        names = intents or sorted(TEMPLATES)
        examples = []
        for i in range(n):
            if blind:
                label, template = BLIND_SPOT_INTENT, rng.choice(templates or BLIND_SPOT_TEMPLATES)
            else:
                label = names[i % len(names)] if intents is None else rng.choice(names)
                template = rng.choice(TEMPLATES[label])
            examples.append(Example(text=self._fill(template, rng), label=label, id=f"{stream}-{i}"))
        return examples

    @property
    def labels(self) -> list[str]:
        return sorted(TEMPLATES)

    def training_set(self, per_intent: int = 30) -> list[Example]:
        """What the first model is trained on: every intent, the usual ways of asking only."""
        return self._draw(per_intent * len(TEMPLATES), "train", blind=False)

    def evaluation_set(self, per_intent: int = 15) -> list[Example]:
        """Held-out usual requests (the regression check of 'nothing that worked broke')."""
        return self._draw(per_intent * len(TEMPLATES), "eval", blind=False)

    def usual(self, n: int, stream: str = "traffic") -> list[Example]:
        """``n`` live requests asked the usual ways, intents drawn at random."""
        return self._draw(n, stream, blind=False, intents=self.labels)

    def blind_spot(self, n: int, stream: str = "blind", templates: list[str] | None = None) -> list[Example]:
        """``n`` requests asked the new way (all of them transfers), from ``templates`` (None: every new way)."""
        return self._draw(n, stream, blind=True, templates=templates)
