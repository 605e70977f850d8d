"""Reference figures the population is drawn from: age and sex, list sizes, ethnicity, names.

Each table says where its figures come from. Most were written from memory of the published
tables (the machine that wrote them could not reach ONS or NHS Digital), so they are
*approximate*: close enough that a synthetic place looks like England, not fit for any real
analysis. docs/synthetic-data.md repeats every figure with its source.

Everything here is an immutable table, turned once (at import) into the `Weighted` choices the
generator draws from millions of times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from careweave.synth.draws import Weighted
from careweave.synth.model import Sex

# --- Age and sex -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeBand:
    """One ONS five-year age band: its share of England's population and the share of it male."""

    low: int
    high: int  # inclusive; the last band ("90+") is spread over single years up to OLDEST_AGE
    percent: float  # of the whole population, both sexes
    male_share: float


AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand(0, 4, 5.8, 0.512),
    AgeBand(5, 9, 6.1, 0.512),
    AgeBand(10, 14, 6.0, 0.513),
    AgeBand(15, 19, 5.5, 0.515),
    AgeBand(20, 24, 6.0, 0.511),
    AgeBand(25, 29, 6.7, 0.500),
    AgeBand(30, 34, 6.8, 0.496),
    AgeBand(35, 39, 6.6, 0.496),
    AgeBand(40, 44, 6.1, 0.496),
    AgeBand(45, 49, 6.5, 0.494),
    AgeBand(50, 54, 6.9, 0.494),
    AgeBand(55, 59, 6.6, 0.494),
    AgeBand(60, 64, 5.7, 0.492),
    AgeBand(65, 69, 5.0, 0.485),
    AgeBand(70, 74, 5.0, 0.476),
    AgeBand(75, 79, 3.6, 0.465),
    AgeBand(80, 84, 2.5, 0.445),
    AgeBand(85, 89, 1.55, 0.405),
    AgeBand(90, 104, 0.95, 0.315),
)
"""England's age and sex structure, ONS mid-2020 population estimates (MYE2), approximate.

About 18.6% are 65 or over and 2.5% 85 or over; women outnumber men from the late 50s on, two to
one at 90+. Within a band every single year is equally likely, except 90+ (below).
"""

OLDEST_AGE = 104
NINETY_PLUS_YEARLY_RATIO = 0.72
"""Within 90+, each year of age holds 0.72 times the people of the year before (approximate,
from the ONS estimates of the very old: about a quarter of the 90+ are 90, ~0.03% of everyone
is 100 or over)."""

OLDER_AGE = 65
"""The age from which a person gets a clinical and social-care record."""


def _age_sex_weights() -> tuple[list[tuple[Sex, int]], list[float]]:
    items: list[tuple[Sex, int]] = []
    weights: list[float] = []
    for band in AGE_BANDS:
        ages = list(range(band.low, band.high + 1))
        if band.high > 89:
            shape = [NINETY_PLUS_YEARLY_RATIO ** (age - band.low) for age in ages]
        else:
            shape = [1.0] * len(ages)
        total = sum(shape)
        for age, part in zip(ages, shape, strict=True):
            share = band.percent * part / total
            items.append(("male", age))
            weights.append(share * band.male_share)
            items.append(("female", age))
            weights.append(share * (1 - band.male_share))
    return items, weights


AGE_AND_SEX: Weighted[tuple[Sex, int]] = Weighted(*_age_sex_weights())
"""One draw gives a person's sex and age in whole years."""


def age_and_sex_shares() -> list[tuple[Sex, int, float]]:
    """Every (sex, age) a person can be drawn with, and its share (percent) of the population:
    what a statistic that depends on age and sex should average to in a generated place."""
    items, weights = _age_sex_weights()
    return [(sex, age, weight) for (sex, age), weight in zip(items, weights, strict=True)]


# --- GP list sizes ------------------------------------------------------------------------------

LIST_SIZE_MEAN = 10_000
"""Mean registered list of an English GP practice (NHS Digital "Patients Registered at a GP
Practice", 2024: about 63 million patients in about 6,300 practices; approximate)."""
LIST_SIZE_SIGMA = 0.55
"""Spread of the log of list sizes: a lognormal with this sigma and mean 10,000 has a median of
about 8,600 and a long tail of practices above 20,000, like the published lists (approximate)."""

# --- Ethnicity ----------------------------------------------------------------------------------

ETHNIC_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "A": "White - British",
        "B": "White - Irish",
        "C": "White - Any other White background",
        "D": "Mixed - White and Black Caribbean",
        "E": "Mixed - White and Black African",
        "F": "Mixed - White and Asian",
        "G": "Mixed - Any other mixed background",
        "H": "Asian or Asian British - Indian",
        "J": "Asian or Asian British - Pakistani",
        "K": "Asian or Asian British - Bangladeshi",
        "L": "Asian or Asian British - Any other Asian background",
        "M": "Black or Black British - Caribbean",
        "N": "Black or Black British - African",
        "P": "Black or Black British - Any other Black background",
        "R": "Other Ethnic Groups - Chinese",
        "S": "Other Ethnic Groups - Any other ethnic group",
        "Z": "Not stated",
        "99": "Not known",
    }
)
"""NHS Data Dictionary ETHNIC CATEGORY (2001 Census categories): UKCore-EthnicCategoryEngland."""

ETHNICITY_AGE_BANDS: tuple[tuple[int, int], ...] = ((0, 17), (18, 39), (40, 64), (65, OLDEST_AGE))

_ETHNICITY_PERCENT: tuple[tuple[float, ...], ...] = (
    # A     B    C     D    E    F    G    H    J    K    L    M    N    P    R    S
    (65.0, 0.3, 6.0, 2.2, 1.1, 1.9, 1.8, 3.5, 4.8, 1.9, 1.8, 0.7, 3.6, 0.9, 0.5, 2.5),  # 0-17
    (65.0, 0.7, 10.0, 1.0, 0.6, 0.9, 0.8, 4.2, 3.2, 1.3, 2.2, 1.0, 3.0, 0.6, 1.2, 3.0),  # 18-39
    (78.0, 1.0, 6.5, 0.4, 0.3, 0.4, 0.4, 3.5, 2.0, 0.8, 1.6, 1.1, 2.3, 0.4, 0.7, 2.0),  # 40-64
    (89.0, 1.6, 2.8, 0.15, 0.1, 0.15, 0.2, 1.9, 0.8, 0.3, 0.7, 1.3, 0.5, 0.15, 0.3, 0.6),  # 65+
)
"""Census 2021 ethnic group by age band, England, mapped to the 2001 categories the NHS still
codes (Gypsy or Irish Traveller and Roma into C, Arab into S, Chinese into R); percent of the
age band, approximate. England as a whole: about 74% White British; 65+: about 89%."""

NOT_STATED_PERCENT = 2.0
"""Share recorded as Z "Not stated" (asked, declined); approximate, from GP recording levels."""
NOT_KNOWN_PERCENT = 3.0
"""Share recorded as 99 "Not known" (never asked); approximate."""

_STATED_CODES = tuple("ABCDEFGHJKLMNPRS")


def _ethnicity_choice(percent: Sequence[float]) -> Weighted[str]:
    stated = 100.0 - NOT_STATED_PERCENT - NOT_KNOWN_PERCENT
    total = sum(percent)
    weights = [share / total * stated for share in percent]
    return Weighted((*_STATED_CODES, "Z", "99"), (*weights, NOT_STATED_PERCENT, NOT_KNOWN_PERCENT))


ETHNICITY_BY_AGE_BAND: tuple[Weighted[str], ...] = tuple(
    _ethnicity_choice(percent) for percent in _ETHNICITY_PERCENT
)
_ETHNICITY_BY_AGE: tuple[Weighted[str], ...] = tuple(
    next(
        choice
        for (low, high), choice in zip(ETHNICITY_AGE_BANDS, ETHNICITY_BY_AGE_BAND, strict=True)
        if low <= age <= high
    )
    for age in range(OLDEST_AGE + 1)
)


def ethnicity_for_age(age: int) -> Weighted[str]:
    """The ethnic category choice for a person of `age` (whole years)."""
    return _ETHNICITY_BY_AGE[min(age, OLDEST_AGE)]


# --- Names --------------------------------------------------------------------------------------

NameGroup = Literal[
    "english",
    "irish",
    "european",
    "caribbean",
    "african",
    "indian",
    "pakistani",
    "bangladeshi",
    "other-asian",
    "chinese",
    "other",
]

NAME_GROUPS_BY_ETHNICITY: Mapping[str, tuple[NameGroup, NameGroup]] = MappingProxyType(
    {
        "A": ("english", "english"),
        "B": ("irish", "irish"),
        "C": ("european", "european"),
        "D": ("english", "caribbean"),
        "E": ("english", "african"),
        "F": ("english", "english"),
        "G": ("english", "english"),
        "H": ("indian", "indian"),
        "J": ("pakistani", "pakistani"),
        "K": ("bangladeshi", "bangladeshi"),
        "L": ("other-asian", "other-asian"),
        "M": ("english", "caribbean"),
        "N": ("african", "african"),
        "P": ("english", "caribbean"),
        "R": ("chinese", "chinese"),
        "S": ("other", "other"),
        "Z": ("english", "english"),
        "99": ("english", "english"),
    }
)
"""(given-name group, surname group) for each ethnic category: a plain approximation, since
names follow families and migration history, not categories. English given names follow the
birth era; the other groups' lists are used at every age."""

ENGLISH_GIVEN_NAMES: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        1939,
        (
            "Margaret", "Joan", "Mary", "Dorothy", "Betty", "Doris", "Joyce", "Irene", "Jean",
            "Eileen", "Kathleen", "Sheila", "Audrey", "Edna", "Winifred", "Elsie", "Vera",
            "Marjorie", "Barbara", "Peggy",
        ),
        (
            "John", "William", "George", "James", "Ronald", "Kenneth", "Albert", "Arthur",
            "Frederick", "Dennis", "Harold", "Leslie", "Thomas", "Robert", "Stanley", "Ernest",
            "Reginald", "Frank", "Eric", "Walter",
        ),
    ),
    (
        1959,
        (
            "Margaret", "Susan", "Patricia", "Christine", "Linda", "Janet", "Carol", "Elizabeth",
            "Mary", "Anne", "Sandra", "Pauline", "Valerie", "Brenda", "Jennifer", "Barbara",
            "Maureen", "Jacqueline", "Gillian", "Sheila",
        ),
        (
            "David", "John", "Michael", "Peter", "Robert", "Anthony", "Brian", "Alan", "Richard",
            "Christopher", "Keith", "Barry", "Stephen", "Colin", "Trevor", "Graham", "Geoffrey",
            "Roger", "Terence", "Malcolm",
        ),
    ),
    (
        1974,
        (
            "Susan", "Julie", "Karen", "Tracey", "Amanda", "Deborah", "Sarah", "Alison",
            "Jacqueline", "Helen", "Nicola", "Lisa", "Joanne", "Catherine", "Elaine", "Dawn",
            "Angela", "Caroline", "Michelle", "Claire",
        ),
        (
            "Paul", "Mark", "David", "Andrew", "Stephen", "Richard", "Ian", "Simon", "Michael",
            "Gary", "Steven", "Martin", "Peter", "Christopher", "Neil", "Kevin", "Darren",
            "Jonathan", "Philip", "Robert",
        ),
    ),
    (
        1989,
        (
            "Sarah", "Claire", "Emma", "Laura", "Rebecca", "Gemma", "Nicola", "Kelly", "Lisa",
            "Rachel", "Louise", "Joanne", "Victoria", "Amy", "Hayley", "Donna", "Stacey",
            "Samantha", "Katie", "Kirsty",
        ),
        (
            "Christopher", "Matthew", "James", "David", "Daniel", "Michael", "Andrew", "Richard",
            "Mark", "Paul", "Lee", "Craig", "Stuart", "Thomas", "Ben", "Adam", "Carl", "Jamie",
            "Scott", "Ryan",
        ),
    ),
    (
        2004,
        (
            "Jessica", "Lauren", "Rebecca", "Hannah", "Emily", "Sophie", "Charlotte", "Chloe",
            "Amy", "Bethany", "Megan", "Laura", "Danielle", "Jade", "Katie", "Georgia", "Holly",
            "Lucy", "Shannon", "Ellie",
        ),
        (
            "Thomas", "James", "Jack", "Daniel", "Joshua", "Matthew", "Luke", "Ryan", "Samuel",
            "Callum", "Benjamin", "Adam", "Liam", "Jordan", "Connor", "Lewis", "Alexander",
            "Jake", "Harry", "Oliver",
        ),
    ),
    (
        2014,
        (
            "Olivia", "Ruby", "Emily", "Grace", "Jessica", "Chloe", "Sophie", "Lily", "Amelia",
            "Evie", "Ella", "Katie", "Mia", "Isabella", "Charlotte", "Isla", "Ava", "Holly",
            "Poppy", "Freya",
        ),
        (
            "Jack", "Oliver", "Thomas", "Harry", "Joshua", "Alfie", "Charlie", "Daniel", "James",
            "William", "Samuel", "George", "Joseph", "Lewis", "Ethan", "Mohammed", "Dylan",
            "Benjamin", "Alexander", "Jacob",
        ),
    ),
    (
        9999,
        (
            "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie",
            "Sophia", "Grace", "Freya", "Florence", "Willow", "Poppy", "Evie", "Ella", "Emily",
            "Sienna", "Elsie",
        ),
        (
            "Oliver", "George", "Noah", "Arthur", "Harry", "Leo", "Muhammad", "Jack", "Charlie",
            "Oscar", "Jacob", "Henry", "Freddie", "Alfie", "Theo", "Thomas", "Archie", "Joshua",
            "William", "Teddy",
        ),
    ),
)  # fmt: skip
"""English given names by birth era (last birth year of the era; female, male), most popular
first: ONS "Baby names in England and Wales" (historical top-100 lists to 1994, annual since
1996), from memory, approximate."""

OTHER_GIVEN_NAMES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType(
    {
        "irish": (
            ("Mary", "Bridget", "Kathleen", "Siobhan", "Niamh", "Aoife", "Ciara", "Sinead",
             "Maureen", "Eileen", "Catherine", "Roisin"),
            ("Patrick", "Sean", "Michael", "John", "Declan", "Liam", "Brendan", "Kevin", "Cian",
             "Conor", "Eamon", "Dermot"),
        ),
        "european": (
            ("Anna", "Maria", "Katarzyna", "Agnieszka", "Magdalena", "Elena", "Ioana", "Andreea",
             "Giulia", "Ana", "Sofia", "Eva", "Julia", "Monika"),
            ("Piotr", "Tomasz", "Krzysztof", "Marek", "Andrei", "Alexandru", "Ion", "Marco",
             "Giuseppe", "João", "Pedro", "László", "Jan", "Lukas"),
        ),
        "african": (
            ("Grace", "Blessing", "Esther", "Ngozi", "Adaeze", "Abena", "Ama", "Funmilayo",
             "Chiamaka", "Precious", "Faith", "Amina", "Hodan", "Nkechi", "Olamide"),
            ("Samuel", "Daniel", "David", "Emmanuel", "Chinedu", "Oluwaseun", "Kwame", "Kofi",
             "Emeka", "Tunde", "Abdi", "Mohamed", "Yusuf", "Ibrahim", "Joseph"),
        ),
        "indian": (
            ("Priya", "Anjali", "Sunita", "Meera", "Neha", "Pooja", "Asha", "Kavita", "Harpreet",
             "Gurpreet", "Jaspreet", "Parminder", "Nisha", "Rani", "Shanti"),
            ("Raj", "Sanjay", "Amit", "Vijay", "Arjun", "Rohan", "Suresh", "Rajesh", "Harjit",
             "Gurdeep", "Kuldip", "Manjit", "Anil", "Ravi", "Vikram"),
        ),
        "pakistani": (
            ("Fatima", "Ayesha", "Zainab", "Maryam", "Amina", "Nadia", "Samina", "Shazia",
             "Nasreen", "Rukhsana", "Saima", "Sana", "Hina", "Khadija", "Bushra"),
            ("Mohammed", "Muhammad", "Ahmed", "Ali", "Imran", "Tariq", "Abdul", "Hassan", "Usman",
             "Bilal", "Zubair", "Asif", "Shahid", "Arshad", "Ibrahim"),
        ),
        "bangladeshi": (
            ("Nasima", "Rahima", "Salma", "Shirin", "Farzana", "Taslima", "Jahanara", "Rumana",
             "Sumaiya", "Tahmina", "Ruksana", "Sultana"),
            ("Abdul", "Mohammed", "Jamal", "Rahim", "Karim", "Kamal", "Sabbir", "Rashid", "Anwar",
             "Habib", "Faruk", "Shahed"),
        ),
        "other-asian": (
            ("Nimali", "Kavitha", "Lakshmi", "Sita", "Maria", "Angelica", "Parisa", "Laila",
             "Anita", "Rosa", "Maya", "Tharani"),
            ("Suresh", "Prakash", "Bikash", "Jose", "Mark", "Ahmad", "Farid", "Ramesh", "Ganesh",
             "Rohan", "Nimal", "Dilip"),
        ),
        "chinese": (
            ("Mei", "Li", "Hui", "Jing", "Xiu", "Ying", "Wai", "Lai", "Grace", "Amy", "Jenny",
             "Helen"),
            ("Wei", "Jun", "Ming", "Hao", "Chi", "Kin", "Wing", "Man", "David", "Michael", "Peter",
             "Jason"),
        ),
        "other": (
            ("Layla", "Noor", "Fatima", "Yasmin", "Amira", "Huda", "Mariam", "Rana", "Sara",
             "Dina", "Maria", "Leila"),
            ("Omar", "Ahmed", "Youssef", "Khalid", "Ali", "Hassan", "Karim", "Tariq", "Sami",
             "Adam", "Reza", "Daniel"),
        ),
    }
)  # fmt: skip
"""Given names (female, male) for the groups whose names do not follow English fashion,
common names in those communities; made-up lists, approximate."""

SURNAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "english": (
            "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
            "Hall", "Wood", "Jackson", "Clarke", "Harris", "Lewis", "Edwards", "Hughes", "Turner",
            "Hill", "Martin", "Cooper", "Ward", "Moore", "Baker", "King", "Harrison", "Morris",
            "Clark", "Lee", "Allen", "Carter", "Mitchell", "Parker", "Bennett", "Shaw", "Cook",
            "Richardson", "Bailey", "Collins", "Bell", "Young", "Watson", "Phillips", "Price",
            "Marshall", "Chapman", "Mason", "Webb", "Holmes", "Barker", "Fisher", "Knight",
            "Lloyd", "Butler", "Rogers", "Ellis", "Simpson", "Dixon", "Gibson", "Hunt", "Palmer",
        ),
        "irish": (
            "Murphy", "Kelly", "O'Brien", "Ryan", "Byrne", "O'Sullivan", "Walsh", "Doyle",
            "McCarthy", "Gallagher", "Kennedy", "Lynch", "Quinn", "Brennan", "Flanagan",
            "Doherty",
        ),
        "european": (
            "Nowak", "Kowalczyk", "Wójcik", "Mazur", "Krawczyk", "Popescu", "Ionescu", "Popa",
            "Rossi", "Russo", "Bianchi", "Silva", "Santos", "Ferreira", "Oliveira", "Nagy",
            "Horváth", "Papadopoulos", "Müller", "Novák",
        ),
        "caribbean": (
            "Campbell", "Brown", "Williams", "Thompson", "Francis", "Henry", "Reid", "Grant",
            "Clarke", "Johnson", "Smith", "Gordon", "Bailey", "Robinson", "Wright", "Lewis",
            "Morgan", "Edwards", "Walker", "Richards",
        ),
        "african": (
            "Okafor", "Adeyemi", "Okonkwo", "Mensah", "Osei", "Boateng", "Asante", "Adebayo",
            "Nwosu", "Eze", "Abdi", "Mohamed", "Hassan", "Farah", "Mwangi", "Otieno", "Banda",
            "Phiri",
        ),
        "indian": (
            "Patel", "Shah", "Sharma", "Gill", "Sandhu", "Mistry", "Chauhan", "Parmar", "Mehta",
            "Joshi", "Desai", "Bains", "Dhillon", "Sidhu", "Grewal", "Johal",
        ),
        "pakistani": (
            "Khan", "Hussain", "Ahmed", "Ali", "Akhtar", "Iqbal", "Mahmood", "Rashid", "Butt",
            "Malik", "Shah", "Aslam", "Raza", "Javed", "Qureshi",
        ),
        "bangladeshi": (
            "Miah", "Rahman", "Uddin", "Islam", "Hoque", "Chowdhury", "Ahmed", "Ali", "Hussain",
            "Khan", "Alam", "Hossain",
        ),
        "other-asian": (
            "Perera", "Fernando", "Silva", "Gurung", "Thapa", "Rai", "Santos", "Reyes", "Cruz",
            "Ahmadi", "Rahimi", "Sivakumar", "Rajan", "Kumaran",
        ),
        "chinese": (
            "Wang", "Li", "Zhang", "Chen", "Liu", "Wong", "Chan", "Cheung", "Lee", "Ng", "Lam",
            "Ho", "Yang", "Lin", "Huang", "Zhou",
        ),
        "other": (
            "Hassan", "Ibrahim", "Mansour", "Haddad", "Saleh", "Nasser", "Khalil", "Said",
            "Hamid", "Aziz", "Karimi", "Hosseini", "Kaya", "Yilmaz", "Demir", "Abbas",
        ),
    }
)  # fmt: skip
"""Surnames by group, most common first: English list after the ONS/Office for National
Statistics commonest surnames in England and Wales, the others common names in those
communities; from memory, approximate."""


GIVEN_NAME_FLATNESS = 10
SURNAME_FLATNESS = 40
"""Earlier names in a list are commoner: name of rank r (0 = first) has weight 1/(r + flatness).
With 20 given names the first is about 9% of its era and sex and the last 3%; with 68 English
surnames "Smith" is about 2.5% of English-named people (1.3% of England, ONS, approximate: the
lists are short, so each name stands for several real ones)."""


def _popularity(names: Sequence[str], flatness: int) -> Weighted[str]:
    return Weighted(names, [1 / (rank + flatness) for rank in range(len(names))])


_ENGLISH_ERA_ENDS: tuple[int, ...] = tuple(end for end, _, _ in ENGLISH_GIVEN_NAMES)
_ENGLISH_GIVEN: tuple[tuple[Weighted[str], Weighted[str]], ...] = tuple(
    (_popularity(female, GIVEN_NAME_FLATNESS), _popularity(male, GIVEN_NAME_FLATNESS))
    for _, female, male in ENGLISH_GIVEN_NAMES
)
_OTHER_GIVEN: Mapping[str, tuple[Weighted[str], Weighted[str]]] = MappingProxyType(
    {
        group: (_popularity(female, GIVEN_NAME_FLATNESS), _popularity(male, GIVEN_NAME_FLATNESS))
        for group, (female, male) in OTHER_GIVEN_NAMES.items()
    }
)
_SURNAMES: Mapping[str, Weighted[str]] = MappingProxyType(
    {group: _popularity(names, SURNAME_FLATNESS) for group, names in SURNAMES.items()}
)


def era_index(birth_year: int) -> int:
    """Which English naming era a birth year falls in (0 = born 1939 or earlier)."""
    for index, end in enumerate(_ENGLISH_ERA_ENDS):
        if birth_year <= end:
            return index
    return len(_ENGLISH_ERA_ENDS) - 1


@dataclass(frozen=True)
class NameChoice:
    """The given-name and surname choices for one (ethnic category, sex, birth era)."""

    given: Weighted[str]
    family: Weighted[str]


def _name_choice(category: str, sex: Sex, era: int) -> NameChoice:
    given_group, family_group = NAME_GROUPS_BY_ETHNICITY[category]
    pair = _ENGLISH_GIVEN[era] if given_group == "english" else _OTHER_GIVEN[given_group]
    return NameChoice(pair[0] if sex == "female" else pair[1], _SURNAMES[family_group])


NAME_CHOICES: Mapping[tuple[str, Sex, int], NameChoice] = MappingProxyType(
    {
        (category, sex, era): _name_choice(category, sex, era)
        for category in ETHNIC_CATEGORIES
        for sex in ("female", "male")
        for era in range(len(ENGLISH_GIVEN_NAMES))
    }
)
"""Every (ethnic category, sex, era) -> its name choices, built once."""
