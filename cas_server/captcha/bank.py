"""The question bank of the accessible CAPTCHA: data only, French and English side by side.

This module holds the vocabulary; :mod:`.phrasings` the general-knowledge
questions and the phrasings of each question family.

An institution extends it by adding lines here; ``tests/captcha/test_captcha.py``
checks that every entry has both languages and an answer. Conventions:

* a word is ``("français", "english")``; ``/`` separates accepted spellings,
  the first one is shown (``("clé/clef", "key")``);
* answers are compared case-, accent-, space-, hyphen- and punctuation-
  insensitively, a leading article is ignored ("le vert", "the green"), and a
  number may be typed in digits or in words, in either language;
* a word must not belong to two categories (no "orange": a colour and a fruit),
  and the neutral words belong to none of them;
* templates use ``{placeholders}``: every phrasing of a family in one language
  must use the same ones.

Both languages live here rather than in the gettext catalogues: a question is
built from several words that must stay paired across languages (the third
word of a list is the same word in French and in English), and each word has
its own accepted spellings, which a msgid → msgstr table cannot carry.
"""

from __future__ import annotations

from .phrasings import FACTS, TEMPLATES, Word

__all__ = [
    "CATEGORIES",
    "DAYS",
    "FACTS",
    "MONTHS",
    "NEUTRAL",
    "NUMBER_WORDS",
    "OPPOSITES",
    "ORDINALS",
    "TEMPLATES",
    "Word",
]

# Categories: (label in French, label in English), then their words.
CATEGORIES: dict[str, tuple[Word, list[Word]]] = {
    "colour": (
        ("une couleur", "a colour"),
        [
            ("rouge", "red"),
            ("bleu/bleue", "blue"),
            ("vert/verte", "green"),
            ("jaune", "yellow"),
            ("noir/noire", "black"),
            ("blanc/blanche", "white"),
            ("gris/grise", "grey/gray"),
            ("marron/brun/brune", "brown"),
            ("violet/violette", "purple/violet"),
            ("rose", "pink"),
            ("beige", "beige"),
            ("turquoise", "turquoise"),
        ],
    ),
    "animal": (
        ("un animal", "an animal"),
        [
            ("chat", "cat"),
            ("chien", "dog"),
            ("cheval", "horse"),
            ("vache", "cow"),
            ("mouton", "sheep"),
            ("lapin", "rabbit"),
            ("renard", "fox"),
            ("loup", "wolf"),
            ("ours", "bear"),
            ("lion", "lion"),
            ("tigre", "tiger"),
            ("éléphant", "elephant"),
            ("canard", "duck"),
            ("hibou", "owl"),
            ("grenouille", "frog"),
            ("chèvre", "goat"),
            ("cochon", "pig"),
            ("souris", "mouse"),
            ("serpent", "snake"),
            ("baleine", "whale"),
        ],
    ),
    "fruit": (
        ("un fruit", "a fruit"),
        [
            ("pomme", "apple"),
            ("poire", "pear"),
            ("banane", "banana"),
            ("cerise", "cherry"),
            ("raisin", "grape/grapes"),
            ("citron", "lemon"),
            ("fraise", "strawberry"),
            ("prune", "plum"),
            ("abricot", "apricot"),
            ("melon", "melon"),
            ("ananas", "pineapple"),
            ("framboise", "raspberry"),
            ("mangue", "mango"),
            ("figue", "fig"),
        ],
    ),
    "body": (
        ("une partie du corps", "a part of the body"),
        [
            ("main", "hand"),
            ("pied", "foot"),
            ("genou", "knee"),
            ("coude", "elbow"),
            ("épaule", "shoulder"),
            ("nez", "nose"),
            ("bouche", "mouth"),
            ("oreille", "ear"),
            ("cou", "neck"),
            ("doigt", "finger"),
            ("menton", "chin"),
            ("cheville", "ankle"),
            ("poignet", "wrist"),
            ("dent", "tooth"),
            ("jambe", "leg"),
            ("tête", "head"),
        ],
    ),
    "clothing": (
        ("un vêtement", "a piece of clothing"),
        [
            ("chemise", "shirt"),
            ("manteau", "coat"),
            ("chapeau", "hat"),
            ("écharpe", "scarf"),
            ("gant", "glove"),
            ("chaussette", "sock"),
            ("jupe", "skirt"),
            ("veste", "jacket"),
            ("robe", "dress"),
            ("pantalon", "trousers/pants"),
            ("pull/pullover", "sweater/jumper/pullover"),
            ("ceinture", "belt"),
            ("botte", "boot"),
            ("casquette", "cap"),
        ],
    ),
    "instrument": (
        ("un instrument de musique", "a musical instrument"),
        [
            ("piano", "piano"),
            ("guitare", "guitar"),
            ("violon", "violin"),
            ("flûte", "flute"),
            ("trompette", "trumpet"),
            ("harpe", "harp"),
            ("tambour", "drum"),
            ("violoncelle", "cello"),
            ("accordéon", "accordion"),
            ("clarinette", "clarinet"),
            ("saxophone", "saxophone"),
            ("tuba", "tuba"),
        ],
    ),
}

# Words of no category above: distractors, and words to spell, list or join.
NEUTRAL: list[Word] = [
    ("table", "table"),
    ("chaise", "chair"),
    ("lampe", "lamp"),
    ("fenêtre", "window"),
    ("porte", "door"),
    ("livre", "book"),
    ("clé/clef", "key"),
    ("horloge", "clock"),
    ("bouteille", "bottle"),
    ("tasse", "cup"),
    ("jardin", "garden"),
    ("forêt", "forest"),
    ("île", "island"),
    ("village", "village"),
    ("échelle", "ladder"),
    ("bougie", "candle"),
    ("miroir", "mirror"),
    ("crayon", "pencil"),
    ("panier", "basket"),
    ("seau", "bucket"),
    ("marteau", "hammer"),
    ("corde", "rope"),
    ("roue", "wheel"),
    ("pont", "bridge"),
    ("route", "road"),
    ("rivière", "river"),
    ("montagne", "mountain"),
    ("nuage", "cloud"),
    ("pierre", "stone"),
    ("sable", "sand"),
    ("plage", "beach"),
    ("château", "castle"),
    ("ville", "town/city"),
    ("rue", "street"),
    ("maison", "house"),
    ("toit", "roof"),
    ("mur", "wall"),
    ("école", "school"),
    ("journal", "newspaper"),
    ("couteau", "knife"),
    ("cuillère/cuiller", "spoon"),
    ("fourchette", "fork"),
    ("assiette", "plate"),
    ("savon", "soap"),
    ("parapluie", "umbrella"),
    ("valise", "suitcase"),
    ("bateau", "boat"),
    ("train", "train"),
    ("vélo", "bike/bicycle"),
    ("avion", "plane/aeroplane/airplane"),
    ("étoile", "star"),
    ("neige", "snow"),
    ("vent", "wind"),
    ("feu", "fire"),
    ("pain", "bread"),
    ("fromage", "cheese"),
    ("lit", "bed"),
    ("tapis", "carpet/rug"),
    ("sac", "bag"),
    ("boîte", "box"),
]

DAYS: list[Word] = [
    ("lundi", "Monday"),
    ("mardi", "Tuesday"),
    ("mercredi", "Wednesday"),
    ("jeudi", "Thursday"),
    ("vendredi", "Friday"),
    ("samedi", "Saturday"),
    ("dimanche", "Sunday"),
]

MONTHS: list[Word] = [
    ("janvier", "January"),
    ("février", "February"),
    ("mars", "March"),
    ("avril", "April"),
    ("mai", "May"),
    ("juin", "June"),
    ("juillet", "July"),
    ("août", "August"),
    ("septembre", "September"),
    ("octobre", "October"),
    ("novembre", "November"),
    ("décembre", "December"),
]

# Position in a list: index (-1: the last), French (masculine, feminine), English.
ORDINALS: list[tuple[int, tuple[str, str], str]] = [
    (0, ("premier", "première"), "first"),
    (1, ("deuxième", "deuxième"), "second"),
    (2, ("troisième", "troisième"), "third"),
    (3, ("quatrième", "quatrième"), "fourth"),
    (4, ("cinquième", "cinquième"), "fifth"),
    (-1, ("dernier", "dernière"), "last"),
]

# Each pair is asked both ways ("the opposite of hot?" and "of cold?").
OPPOSITES: list[tuple[Word, Word]] = [
    (("chaud/chaude", "hot"), ("froid/froide", "cold")),
    (("grand/grande", "big/large/tall"), ("petit/petite", "small/little/short")),
    (("jour", "day"), ("nuit", "night")),
    (("haut", "up/high"), ("bas", "down/low")),
    (("ouvert/ouverte", "open"), ("fermé/fermée", "closed/shut")),
    (("plein/pleine", "full"), ("vide", "empty")),
    (("rapide", "fast/quick"), ("lent/lente", "slow")),
    (("léger/légère", "light"), ("lourd/lourde", "heavy/dark")),
    (("mouillé/mouillée/humide", "wet"), ("sec/sèche", "dry")),
    (("long/longue", "long"), ("court/courte", "short")),
    (("tôt", "early"), ("tard", "late")),
    (("dedans/intérieur", "inside/in"), ("dehors/extérieur", "outside/out")),
    (("gauche", "left"), ("droite", "right")),
    (("vrai/vraie", "true"), ("faux/fausse", "false")),
    (("gagner", "win"), ("perdre", "lose")),
    (("riche", "rich"), ("pauvre", "poor")),
    (("propre", "clean"), ("sale", "dirty")),
    (("fort/forte", "strong"), ("faible", "weak")),
    (("heureux/heureuse/content/contente/joyeux", "happy/glad"), ("triste", "sad")),
    (("été", "summer"), ("hiver", "winter")),
    (("nord", "north"), ("sud", "south")),
    (("début/commencement", "beginning/start"), ("fin", "end")),
    (
        ("dessus/au-dessus", "above/over/on top"),
        ("dessous/au-dessous/en dessous", "below/under/underneath"),
    ),
    (("près/proche", "near/close"), ("loin/lointain", "far")),
    (("avant", "before"), ("après", "after")),
    (("oui", "yes"), ("non", "no")),
    (("premier/première", "first"), ("dernier/dernière", "last")),
    (("pousser", "push"), ("tirer", "pull")),
    (("ami/amie", "friend"), ("ennemi/ennemie", "enemy")),
    (("acheter", "buy"), ("vendre", "sell")),
    (("entrée", "entrance/entry/way in"), ("sortie", "exit/way out")),
]

# Numbers that facts may have as answers, in words (digits are always accepted).
NUMBER_WORDS: dict[int, Word] = {
    2: ("deux", "two"),
    3: ("trois", "three"),
    4: ("quatre", "four"),
    5: ("cinq", "five"),
    7: ("sept", "seven"),
    8: ("huit", "eight"),
    12: ("douze", "twelve"),
    24: ("vingt-quatre", "twenty-four"),
    60: ("soixante", "sixty"),
    365: ("trois cent soixante-cinq", "three hundred and sixty-five/three hundred sixty-five"),
}
