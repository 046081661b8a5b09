"""What the application and its operator do to connections, one module per command: `tokens
import` (token_import.py), `tokens get` (fresh_token.py), `tokens disconnect` (disconnect.py),
`users erase` (erase.py), `keys rotate` (key_rotation.py), `data prune` (prune.py) and `status`
(status.py)."""
