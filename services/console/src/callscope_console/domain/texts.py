"""The console's words in English and French: one table for the server's pages and the page's
script (served as JSON), so both always say the same thing."""

from __future__ import annotations

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Callscope console",
        "floor": "Floor",
        "search": "Search",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "token": "Access token",
        "signin_help": "Paste the access token you were given.",
        "bad_token": "This token is not valid.",
        "unauthorized": "Sign in to see this page.",
        "forbidden": "You may not see this.",
        "not_found_call": "No call with this id, or not one of your queues.",
        "not_found": "Not found",
        "back_to_floor": "Back to the floor",
        "live_calls": "Live calls",
        "alerts": "Alerts",
        "no_calls": "No live call.",
        "no_alerts": "No open alert.",
        "queue": "Queue",
        "all_queues": "All my queues",
        "severity": "Severity",
        "any_severity": "Any",
        "agent": "Agent",
        "customer": "Customer",
        "duration": "Duration",
        "language": "Language",
        "sentiment": "Sentiment",
        "category": "Category",
        "rule": "Rule",
        "evidence": "Evidence",
        "acknowledge": "Acknowledge",
        "acknowledged_by": "Acknowledged by",
        "open_call": "Open",
        "transcript": "Transcript",
        "sentiment_line": "Customer sentiment over the call",
        "summary": "Summary",
        "recording": "Recording",
        "play_recording": "Play the recording",
        "recording_refused": "Playback refused",
        "call_live": "Live",
        "call_ended": "Ended",
        "waiting_transcript": "Waiting for speech…",
        "connection_lost": "Connection lost, reconnecting…",
        "search_text": "Words said",
        "date_from": "From",
        "date_to": "To",
        "search_button": "Search",
        "results": "Results",
        "no_results": "No call found.",
        "started": "Started",
        "qa_score": "QA score",
        "talk_agent": "Agent talk",
        "talk_customer": "Customer talk",
        "silence": "Silence",
        "critical": "critical",
        "warning": "warning",
        "info": "info",
        "negative": "negative",
        "neutral": "neutral",
        "positive": "positive",
        "signed_in_as": "Signed in as",
    },
    "fr": {
        "title": "Console Callscope",
        "floor": "Plateau",
        "search": "Recherche",
        "sign_in": "Se connecter",
        "sign_out": "Se déconnecter",
        "token": "Jeton d'accès",
        "signin_help": "Collez le jeton d'accès qui vous a été remis.",
        "bad_token": "Ce jeton n'est pas valide.",
        "unauthorized": "Connectez-vous pour voir cette page.",
        "forbidden": "Vous n'avez pas accès à ceci.",
        "not_found_call": "Aucun appel avec cet identifiant, ou pas dans vos files.",
        "not_found": "Introuvable",
        "back_to_floor": "Retour au plateau",
        "live_calls": "Appels en cours",
        "alerts": "Alertes",
        "no_calls": "Aucun appel en cours.",
        "no_alerts": "Aucune alerte ouverte.",
        "queue": "File",
        "all_queues": "Toutes mes files",
        "severity": "Gravité",
        "any_severity": "Toutes",
        "agent": "Conseiller",
        "customer": "Client",
        "duration": "Durée",
        "language": "Langue",
        "sentiment": "Sentiment",
        "category": "Catégorie",
        "rule": "Règle",
        "evidence": "Preuves",
        "acknowledge": "Acquitter",
        "acknowledged_by": "Acquittée par",
        "open_call": "Ouvrir",
        "transcript": "Transcription",
        "sentiment_line": "Sentiment du client au fil de l'appel",
        "summary": "Résumé",
        "recording": "Enregistrement",
        "play_recording": "Écouter l'enregistrement",
        "recording_refused": "Écoute refusée",
        "call_live": "En cours",
        "call_ended": "Terminé",
        "waiting_transcript": "En attente de parole…",
        "connection_lost": "Connexion perdue, reconnexion…",
        "search_text": "Mots prononcés",
        "date_from": "Du",
        "date_to": "Au",
        "search_button": "Rechercher",
        "results": "Résultats",
        "no_results": "Aucun appel trouvé.",
        "started": "Début",
        "qa_score": "Score qualité",
        "talk_agent": "Parole conseiller",
        "talk_customer": "Parole client",
        "silence": "Silence",
        "critical": "critique",
        "warning": "avertissement",
        "info": "info",
        "negative": "négatif",
        "neutral": "neutre",
        "positive": "positif",
        "signed_in_as": "Connecté en tant que",
    },
}


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The `lang` cookie (the page's switch) wins; then the first supported Accept-Language."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES:
            ranked.append((quality, primary))
    ranked.sort(key=lambda pair: -pair[0])
    return ranked[0][1] if ranked else DEFAULT_LANGUAGE


def text(language: str, key: str) -> str:
    return TEXTS.get(language, TEXTS[DEFAULT_LANGUAGE]).get(key) or TEXTS[DEFAULT_LANGUAGE][key]
