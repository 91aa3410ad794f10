"""The CAPTCHA bank's questions: general knowledge, and the phrasings of each family.

Data only, French and English side by side (see :mod:`.bank` for the
conventions and the vocabulary the phrasings draw on).
"""

from __future__ import annotations

Word = tuple[str, str]  # (French, English); "/" separates accepted spellings

# Questions of general knowledge: (French question, English question), then the
# answer: a word (French, English) or a number (from NUMBER_WORDS).
FACTS: list[tuple[Word, Word | int]] = [
    (("De quelle couleur est la neige ?", "What colour is snow?"), ("blanc/blanche", "white")),
    (
        (
            "De quelle couleur est le ciel par beau temps ?",
            "What colour is the sky on a sunny day?",
        ),
        ("bleu", "blue"),
    ),
    (
        ("De quelle couleur est un citron mûr ?", "What colour is a ripe lemon?"),
        ("jaune", "yellow"),
    ),
    (("Combien y a-t-il de jours dans une semaine ?", "How many days are there in a week?"), 7),
    (("Combien y a-t-il de mois dans une année ?", "How many months are there in a year?"), 12),
    (("Combien de pattes a une araignée ?", "How many legs does a spider have?"), 8),
    (("Combien de roues a une bicyclette ?", "How many wheels does a bicycle have?"), 2),
    (("Combien de côtés a un triangle ?", "How many sides does a triangle have?"), 3),
    (("Combien y a-t-il d'heures dans une journée ?", "How many hours are there in a day?"), 24),
    (
        ("Combien y a-t-il de minutes dans une heure ?", "How many minutes are there in an hour?"),
        60,
    ),
    (("Combien de doigts a une main ?", "How many fingers are there on one hand?"), 5),
    (("Combien y a-t-il de saisons dans une année ?", "How many seasons are there in a year?"), 4),
    (
        (
            "Combien de jours compte une année non bissextile ?",
            "How many days are in a non-leap year?",
        ),
        365,
    ),
    (("Que fabriquent les abeilles ?", "What do bees make?"), ("miel", "honey")),
    (("Quel animal aboie ?", "Which animal barks?"), ("chien", "dog")),
    (("Quel animal fait « miaou » ?", "Which animal says 'meow'?"), ("chat", "cat")),
    (
        ("Avec quel outil découpe-t-on du papier ?", "What tool do you use to cut paper?"),
        ("ciseaux/ciseau", "scissors"),
    ),
    (
        ("Quelle saison vient après l'hiver ?", "Which season comes after winter?"),
        ("printemps", "spring"),
    ),
    (
        ("Quelle saison vient après l'été ?", "Which season comes after summer?"),
        ("automne", "autumn/fall"),
    ),
    (
        ("Quelle saison vient après l'automne ?", "Which season comes after autumn?"),
        ("hiver", "winter"),
    ),
    (
        ("Quelle saison vient après le printemps ?", "Which season comes after spring?"),
        ("été", "summer"),
    ),
    (("Comment appelle-t-on l'eau gelée ?", "What do we call frozen water?"), ("glace", "ice")),
    (
        ("Quel repas prend-on le matin ?", "Which meal do people eat in the morning?"),
        ("petit déjeuner/petit-déjeuner/déjeuner", "breakfast"),
    ),
    (
        ("Quelle étoile éclaire la Terre le jour ?", "Which star lights the Earth during the day?"),
        ("soleil", "sun"),
    ),
    (
        ("Quel est le satellite naturel de la Terre ?", "What is the Earth's natural satellite?"),
        ("lune", "moon"),
    ),
    (
        ("Avec quoi écrit-on sur un tableau noir ?", "What do you write with on a blackboard?"),
        ("craie", "chalk"),
    ),
    (
        ("Avec quoi ouvre-t-on une porte fermée à clé ?", "What do you use to open a locked door?"),
        ("clé/clef", "key"),
    ),
    (
        ("Que donnent les vaches, que l'on boit ?", "What do cows give that people drink?"),
        ("lait", "milk"),
    ),
    (
        ("Dans quelle pièce de la maison dort-on ?", "In which room of a house do people sleep?"),
        ("chambre", "bedroom"),
    ),
    (
        ("Que mesure un thermomètre ?", "What does a thermometer measure?"),
        ("température", "temperature"),
    ),
    (
        ("Quel animal nous donne la laine ?", "Which animal gives us wool?"),
        ("mouton/brebis", "sheep"),
    ),
    (
        ("Quelle est la capitale de la France ?", "What is the capital of France?"),
        ("Paris", "Paris"),
    ),
    (("Dans quoi vivent les poissons ?", "What do fish live in?"), ("eau", "water")),
    (
        ("Comment appelle-t-on le petit du chien ?", "What do we call a young dog?"),
        ("chiot", "puppy"),
    ),
    (
        ("Comment appelle-t-on le petit du chat ?", "What do we call a young cat?"),
        ("chaton", "kitten"),
    ),
    (("Sur quelle planète vivons-nous ?", "Which planet do we live on?"), ("Terre", "Earth")),
    (
        (
            "Quel objet indique l'heure au poignet ?",
            "What do you wear on your wrist to tell the time?",
        ),
        ("montre", "watch/wristwatch"),
    ),
    (
        ("Avec quel organe voit-on ?", "Which part of the body do you see with?"),
        ("yeux/œil/oeil", "eyes/eye"),
    ),
    (
        (
            "Quelle boisson chaude fait-on avec des grains torréfiés ?",
            "Which hot drink is made from roasted beans?",
        ),
        ("café", "coffee"),
    ),
    (
        (
            "Quel fruit jaune et allongé les singes aiment-ils ?",
            "Which long yellow fruit do monkeys like?",
        ),
        ("banane", "banana"),
    ),
]

# Families of questions. Each phrasing of a family, in each language, uses the
# same placeholders; the web page shows the one of the user's language.
#   pick:      {category} {words}  one of the words belongs to the category
#   odd:       {category} {words}  all the words but one belong to it
#   nth:       {ordinal} / {ordinal_f} (French feminine) {words}
#   day_after, day_before, month_after, month_before: {word}
#   backwards, trim_first, trim_last: {word}
#   join:      {first} {second}
#   opposite:  {word}
# Weights: how often a family is asked (families whose answers are few are
# asked less, so that no single answer is right more than about 0.5 % of the time).
TEMPLATES: dict[str, tuple[float, dict[str, list[str]]]] = {
    "pick": (
        1.0,
        {
            "fr": [
                "Lequel de ces mots désigne {category} : {words} ?",
                "Parmi les mots suivants, recopiez celui qui désigne {category} : {words}.",
                "Voici cinq mots : {words}. Lequel est {category} ?",
            ],
            "en": [
                "Which of these words is {category}: {words}?",
                "Of the following words, type the one that is {category}: {words}.",
                "Here are five words: {words}. Which one is {category}?",
            ],
        },
    ),
    "odd": (
        1.0,
        {
            "fr": [
                "Lequel de ces mots ne désigne pas {category} : {words} ?",
                "Recopiez l'intrus, le mot qui n'est pas {category} : {words}.",
                "Voici cinq mots : {words}. Un seul ne désigne pas {category} : lequel ?",
            ],
            "en": [
                "Which of these words is not {category}: {words}?",
                "Type the odd one out, the word that is not {category}: {words}.",
                "Here are five words: {words}. Only one is not {category}: which one?",
            ],
        },
    ),
    "nth": (
        1.0,
        {
            "fr": [
                "Recopiez le {ordinal} mot de cette liste : {words}.",
                "Quel est le {ordinal} mot de la liste suivante : {words} ?",
                "Voici une liste : {words}. Quel mot est en {ordinal_f} position ?",
            ],
            "en": [
                "Type the {ordinal} word of this list: {words}.",
                "What is the {ordinal} word in the following list: {words}?",
                "Here is a list: {words}. Which word comes {ordinal}?",
            ],
        },
    ),
    "day_after": (
        0.15,
        {
            "fr": ["Quel jour vient après {word} ?", "Quel est le lendemain du {word} ?"],
            "en": ["What day comes after {word}?", "Which day follows {word}?"],
        },
    ),
    "day_before": (
        0.15,
        {
            "fr": ["Quel jour vient avant {word} ?", "Quel jour précède le {word} ?"],
            "en": ["What day comes before {word}?", "Which day is just before {word}?"],
        },
    ),
    "month_after": (
        0.25,
        {
            "fr": ["Quel mois vient après {word} ?", "Quel mois suit {word} ?"],
            "en": ["What month comes after {word}?", "Which month follows {word}?"],
        },
    ),
    "month_before": (
        0.25,
        {
            "fr": ["Quel mois vient avant {word} ?", "Quel mois précède {word} ?"],
            "en": ["What month comes before {word}?", "Which month is just before {word}?"],
        },
    ),
    "backwards": (
        1.0,
        {
            "fr": [
                "Écrivez le mot « {word} » à l'envers.",
                "Recopiez « {word} » en commençant par la dernière lettre.",
                "Épelez « {word} » de la dernière lettre à la première, sans espace.",
            ],
            "en": [
                "Type the word '{word}' backwards.",
                "Type '{word}' starting with its last letter.",
                "Spell '{word}' from the last letter to the first, without spaces.",
            ],
        },
    ),
    "trim_first": (
        0.5,
        {
            "fr": [
                "Écrivez le mot « {word} » sans sa première lettre.",
                "Enlevez la première lettre de « {word} » et recopiez le reste.",
            ],
            "en": [
                "Type the word '{word}' without its first letter.",
                "Remove the first letter of '{word}' and type the rest.",
            ],
        },
    ),
    "trim_last": (
        0.5,
        {
            "fr": [
                "Écrivez le mot « {word} » sans sa dernière lettre.",
                "Enlevez la dernière lettre de « {word} » et recopiez le reste.",
            ],
            "en": [
                "Type the word '{word}' without its last letter.",
                "Remove the last letter of '{word}' and type the rest.",
            ],
        },
    ),
    "join": (
        0.8,
        {
            "fr": [
                "Écrivez les mots « {first} » et « {second} » collés, sans espace.",
                "Accolez « {first} » puis « {second} » pour n'en faire qu'un seul mot.",
            ],
            "en": [
                "Type the words '{first}' and '{second}' joined together, without a space.",
                "Join '{first}' then '{second}' into a single word.",
            ],
        },
    ),
    "opposite": (
        1.0,
        {
            "fr": [
                "Quel est le contraire de « {word} » ?",
                "Donnez un mot qui veut dire le contraire de « {word} ».",
                "Écrivez le contraire de « {word} ».",
            ],
            "en": [
                "What is the opposite of '{word}'?",
                "Give a word that means the opposite of '{word}'.",
                "Type the opposite of '{word}'.",
            ],
        },
    ),
    "fact": (1.0, {}),  # the questions are FACTS above
}
