"""The Generate tab: stream text from a model, see each choice it makes, compare, score, chat.

`tab.py` holds the tab (`GenerateTab`); `flows.py` what each page does; `jobs.py` the background
jobs (engine calls); `pages.py`, `chat_page.py`, `controls.py`, `shaded_text.py` and
`next_token_chart.py` the widgets; `pieces.py` the words and shades they show.
"""
