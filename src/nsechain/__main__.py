from nsechain.cli import app

app(prog_name="nsechain")
