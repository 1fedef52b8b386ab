"""Italian articles before a person's or a business's name, for the templates.

In an Italian sentence a title takes the article, merged with the preposition: «del signor Rossi»,
«dell'avv. Neri», «all'ing. Bellini», «con la dott.ssa Bianchi» (never «di signor Rossi», «a
ing. Bellini»); a first name takes none: «a Marco», «di Anna». A greeting is different: «Gentile
avv. Neri», with no article, and does not use this.

`with_article(address, preposition, gender)` is registered in the renderer's jinja environment as
a filter and as a global: `{{ client|with_article("di") }}`, `{{ with_article(c.address, "a", c.gender) }}`.
"""

from __future__ import annotations

from markupsafe import Markup, escape

# The article of each title (the first word of the address, casefolded, trailing dot dropped).
TITLES: dict[str, str] = {
    **dict.fromkeys(("signor", "signore", "sig", "dottor", "dottore", "dr", "professor", "professore"), "il"),
    **dict.fromkeys(("geom", "geometra", "rag", "ragionier", "ragioniere", "cav", "cavalier", "don", "mister"), "il"),
    **dict.fromkeys(("dott", "prof"), "il"),  # "la" for a woman: see _EITHER
    **dict.fromkeys(("signora", "sig.ra", "signorina", "sig.na", "dott.ssa", "dottoressa", "prof.ssa"), "la"),
    **dict.fromkeys(("professoressa", "donna", "madame"), "la"),
    **dict.fromkeys(("sigg", "signori"), "i"),
    **dict.fromkeys(("avv", "avvocato", "avvocata", "avvocatessa", "ing", "ingegnere", "arch", "architetto"), "l'"),
    **dict.fromkeys(("architetta", "onorevole"), "l'"),
}
# Abbreviations said the same way for a man and a woman: "la dott. Bianchi", "la prof. Neri".
_EITHER = frozenset({"dott", "prof", "dr"})
# A business named by its kind takes the article too: «dello Studio Rossi», «all'Hotel Miramare».
BUSINESSES: dict[str, str] = {
    **dict.fromkeys(("studio", "gruppo"), "lo"),
    **dict.fromkeys(("ristorante", "bar", "negozio", "comune", "condominio", "laboratorio", "centro"), "il"),
    **dict.fromkeys(("salone", "panificio", "caseificio", "consorzio", "circolo", "birrificio"), "il"),
    **dict.fromkeys(("agenzia", "ditta", "società", "farmacia", "palestra", "scuola", "cooperativa"), "la"),
    **dict.fromkeys(("clinica", "banca", "fondazione", "pasticceria", "bottega", "cantina", "trattoria"), "la"),
    **dict.fromkeys(("azienda", "impresa", "hotel", "albergo", "officina", "associazione", "istituto"), "l'"),
    **dict.fromkeys(("ufficio", "agriturismo", "autofficina", "enoteca", "osteria"), "l'"),
}
# An article the user typed in front of the name (lower case only: «La Bottega» is a name).
TYPED = ("il", "lo", "la", "i", "gli", "le")
# Preposition + article, merged.
MERGED: dict[str, dict[str, str]] = {
    "di": {"il": "del", "lo": "dello", "la": "della", "l'": "dell'", "i": "dei", "gli": "degli", "le": "delle"},
    "a": {"il": "al", "lo": "allo", "la": "alla", "l'": "all'", "i": "ai", "gli": "agli", "le": "alle"},
    "da": {"il": "dal", "lo": "dallo", "la": "dalla", "l'": "dall'", "i": "dai", "gli": "dagli", "le": "dalle"},
    "in": {"il": "nel", "lo": "nello", "la": "nella", "l'": "nell'", "i": "nei", "gli": "negli", "le": "nelle"},
    "su": {"il": "sul", "lo": "sullo", "la": "sulla", "l'": "sull'", "i": "sui", "gli": "sugli", "le": "sulle"},
}
# Prepositions that stay apart from the article: «con il signor Rossi», «per l'avv. Neri».
SEPARATE = frozenset({"con", "per", "tra", "fra"})


def article_of(address: str, gender: str | None = None) -> tuple[str | None, str]:
    """(the article the address takes, or None; the address without any article the user typed)."""
    address = address.strip()
    head, _, rest = address.partition(" ")
    if head in TYPED and rest.strip():  # «la signora Rossi»: the user's own article
        return head, rest.strip()
    if head.startswith(("l'", "l’")) and len(head) > 2:  # «l'avv. Neri»
        return "l'", address[2:].strip()
    key = head.casefold().rstrip(".")
    if key in TITLES and (rest.strip() or head.endswith(".")):
        article = TITLES[key]
        if key in _EITHER and gender == "woman":
            article = "la"
        return article, address
    if key in BUSINESSES and rest.strip():
        return BUSINESSES[key], address
    return None, address


def with_article(address: str | None, preposition: str | None = "", gender: str | None = None) -> Markup:
    """`address` after `preposition`, with the article its title asks for, as safe HTML.

    with_article("signor Rossi", "di") → «del signor Rossi»; ("avv. Neri", "con") → «con l'avv. Neri»;
    ("ing. Bellini", "a") → «all'ing. Bellini»; ("Marco", "a") → «a Marco»; ("Anna", "a") → «ad Anna»;
    ("signora Rossi", "") → «la signora Rossi» (the subject or object of a verb). `gender` ("woman",
    "man", "company") settles the abbreviations used for both ("dott.", "prof."). The address is
    user input: it is escaped, the article is not. An empty address gives an empty string.
    """
    if not address or not str(address).strip():
        return Markup("")
    preposition = (preposition or "").strip().casefold()
    article, name = article_of(str(address), gender)
    if article is None:
        if preposition == "a" and name[:1].casefold() == "a":
            preposition = "ad"  # «ad Anna»
        words = [preposition] if preposition else []
    elif preposition in MERGED:
        words = [MERGED[preposition][article]]
    elif preposition:
        words = [preposition, article]
    else:
        words = [article]
    prefix = " ".join(words)
    if prefix and not prefix.endswith("'"):
        prefix += " "
    return Markup(prefix) + escape(name)


__all__ = ["BUSINESSES", "TITLES", "article_of", "with_article"]
